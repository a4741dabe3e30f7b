"""Events in: billing systems tell us, later, that a memo was applied."""
