"""dse.energy"""
