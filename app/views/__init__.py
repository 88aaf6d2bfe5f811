"""Views: the linked image panels, the cursor readout, the line profile and ROI statistics."""
