"""Reports and loans: facts, operations (acknowledge, answer, resolve), notices to staff and parents."""
