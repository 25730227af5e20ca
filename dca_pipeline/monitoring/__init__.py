"""Layer 6: performance, schedules, sensors and alerts."""
