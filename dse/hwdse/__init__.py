"""dse.hwdse"""
