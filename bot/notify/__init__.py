"""Scheduled notices and broadcasts: the planner, the scheduler (the clock) and the sender.

The database is the truth (notices and one delivery row per recipient); the scheduler's
jobs are rebuilt from it at start-up, so a restart or a crash loses nothing.
"""
