"""Reading Inspect logs (with inspect_ai's own reader) and turning them into analysis data."""
