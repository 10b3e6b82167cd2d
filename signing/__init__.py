"""Signatures and certificates: a library the gateway calls; it knows nothing of Flask or SQL."""
