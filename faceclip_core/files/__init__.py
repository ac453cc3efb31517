"""Files on disk, whatever model they belong to: atomic writes (`atomic`), the file-name rule (`names`), untrusted
training-state files (`state`), the one image reader and writer (`images`) and the official-file download
(`download`).
"""
