"""sdkapi domain."""
