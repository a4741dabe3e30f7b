"""Customer cases: the complaint a credit is raised against."""
