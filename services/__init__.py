"""The application layer: loads what a step may know, applies its effects, plans notices."""
