"""Declarative data quality: Great Expectations suites (expectations.py) run by gx_run.py inside asset checks.

A support package beside storage: it imports only the ground floor (paths, metadata) and third-party
libraries, so every layer may use it. Great Expectations itself is imported only when a check validates.
"""
