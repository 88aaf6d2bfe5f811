"""Dock widgets: batch queue, model panel, holes table, ROI statistics, log."""
