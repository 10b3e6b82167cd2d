"""What `forms` and `signing` share, since neither may import the other: the shape of a rule's
result, and where an answer PDF carries its inquiry reference.

Imports nothing of the project (and of Flask or the database).
"""
