// Figures as the agent reads and types them: distances, money in the company's currency (held
// as integer minor units), quantities (held in thousandths) and percentages (basis points).

import { language } from "../i18n.js";

export function kilometres(m) {
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}
