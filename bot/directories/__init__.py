"""The directory adapters: one module per :class:`flows.directory.DirectoryKind`.

Each implements :class:`flows.directory.Directory` against a real system (Balie's own store,
an LDAP v3 server, a SCIM 2.0 service); the composition root picks the one each
organization is set to.
"""
