"""Execution environments as OS processes speaking Lambda's Runtime API."""
