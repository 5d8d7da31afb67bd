"""
s3node's own plugins: the built-in checksum algorithms and placement
strategies, registered by :func:`s3node.plugins.get_plugin_manager` and
marked ``trylast`` so that third-party plugins win.
"""
