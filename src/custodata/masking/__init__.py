"""Display masking [脱敏]: what a value may look like when shown to a person.

This is the minimal set the terminal views need today (JR/T 0171 display
rules for ID numbers, mobiles, cards, names, addresses); the role- and
purpose-aware policy engine builds on these functions.
"""

from custodata.masking.display import mask_address, mask_email, mask_id, mask_keep, mask_mobile, mask_name

__all__ = ["mask_address", "mask_email", "mask_id", "mask_keep", "mask_mobile", "mask_name"]
