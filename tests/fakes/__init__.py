"""The sanctioned fakes: an evil agent for crafted packets, a UDP fault proxy (T1, T2)."""
