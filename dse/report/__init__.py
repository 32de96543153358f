"""dse.report"""
