"""The directory: organisations, care units, REKOs and their assignments; routing; import/export."""
