"""Audio processing engine: pure numpy signal code, no Django imports."""
