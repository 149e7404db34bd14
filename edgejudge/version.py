"""The package version (read by the build backend and stamped into records and converted files)."""

__version__ = "0.1.0"
