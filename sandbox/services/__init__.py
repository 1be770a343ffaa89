"""Local stand-ins for the company's source systems, served on loopback."""
