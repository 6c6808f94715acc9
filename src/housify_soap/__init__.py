"""housify-soap.

spyne is imported only through this package, after :func:`housify_soap.spyne_compat.install`
has made it importable on Python 3.12 and 3.13.
"""

from housify_soap.spyne_compat import install as _install_spyne_compat

_install_spyne_compat()
