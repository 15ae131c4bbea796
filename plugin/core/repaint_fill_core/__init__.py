"""Host-side core of RePaint Fill, shared by the Krita and GIMP plug-ins.

Standard library only (Python 3.8+): it runs inside Krita's and GIMP's own Python. Nothing here
imports Krita, GIMP or Qt; the host adapters read the selection and pixels and write layers, and
everything else (crop planning, PNG, the HTTP protocol, errors, starting the backend) lives here.
"""

__version__ = "0.1.0"
