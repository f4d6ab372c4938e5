"""Watching a running environment: its checks (`contrail check`, `verify`), its logs, load on it."""
