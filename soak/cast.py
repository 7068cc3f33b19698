"""The soak's municipalities: five of each of the sandbox's five vendors, two of each vendor with read-back
importing Altinn mail (so the Altinn route's final hop is ``registered`` and a vendor outage stops both
channels), all 25 on both channels: 50 routes."""

from __future__ import annotations

MUNICIPALITIES = (
    # fjordsys (static read-back key): three reading Altinn in Altinn's inbox, two importing it
    "0301", "1101", "1119", "1134", "1563",
    # kystdata
    "1103", "1121", "1122", "1833", "1874",
    # nordlys (read-back via Maskinporten)
    "1106", "1114", "1520", "1146", "1547",
    # vidde
    "1108", "1111", "1112", "1576", "3120",
    # papirlos (no read-back API: the portal's final hop is the receipt)
    "1130", "1515", "1516", "1525", "1531",
)  # fmt: skip

# The short soak's cast (``make test``): one municipality of each vendor, two of them importing Altinn mail.
SHORT = ("0301", "1122", "1146", "1576", "1130")
