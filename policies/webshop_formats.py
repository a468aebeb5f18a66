"""The published WebShop prompt formats, by policy name (registered by :mod:`policies`)."""

from policies.react_webshop import ReActWebShopPolicy
from policies.verl_agent_webshop import VerlAgentWebShopPolicy

FORMATS = {"verl_agent_webshop": VerlAgentWebShopPolicy, "react_webshop": ReActWebShopPolicy}
