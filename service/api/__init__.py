"""HTTP routers: parse, call the domain, shape the answer."""
