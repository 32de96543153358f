"""dse.model"""
