"""Imported by ``test_cluster_fork`` to see ``prepare_to_fork`` import a module."""
