"""Volunteers: family volunteer teams and P.E.E.R. peer supporters, duties, hours, peer matches."""
