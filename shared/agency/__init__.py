"""What the agency is, as configuration: its sites and zones, and the instruments it scores."""
