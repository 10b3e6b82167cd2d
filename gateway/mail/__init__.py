"""mail domain."""
