"""Chat channels. ``base`` is what the domain sees; ``telegram`` is the adapter."""
