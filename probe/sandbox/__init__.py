"""The sandbox: a local stand-in for the world Kanari watches. The probe never imports it."""
