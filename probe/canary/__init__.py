"""The canary: its signed marker, synthetic identity and report content."""
