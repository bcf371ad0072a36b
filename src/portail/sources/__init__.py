"""Where a dataset's data comes from beyond a file on this machine: URLs fetched under the
instance's network rules (``fetching``). Scheduled loads and harvesting are later issues."""
