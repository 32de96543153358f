"""dse.workloads"""
