"""dse.mapper"""
