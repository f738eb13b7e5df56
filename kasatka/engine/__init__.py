"""The touch engine: the worker loop, its clock and the rules it applies at send time."""
