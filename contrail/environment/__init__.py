"""Environments: a set of machines with a state directory that Contrail brings up, reaches and tears down
(a developer's topology and the team's services are two configurations of one `Environment`)."""
