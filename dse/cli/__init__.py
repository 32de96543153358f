"""dse.cli"""
