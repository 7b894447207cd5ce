"""Personal data handling: salted commitments for selective disclosure."""
