"""The team's box catalog: boxes published under versions Vagrant understands, served, pruned."""
