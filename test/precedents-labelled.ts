import type { PrecedentObservation } from '../src/core/precedents.js';

/**
 * A labelled set for retrieval: precedents at a few stages, each with near-misses (same
 * stage, other documents and other failures), and tasks whose right precedent is known.
 * Tasks labelled `null` have no precedent that applies: nothing should be injected.
 */
export interface LabelledPrecedent {
  label: string;
  stage: string;
  what: string;
  evidence: string;
  task: string;
  fix?: string;
}

export const LABELLED_PRECEDENTS: LabelledPrecedent[] = [
  { label: 'invoice-ids', stage: 'extract', what: 'failed check: every id exists in the input: an invoice line id is not in the input', evidence: 'output: {"items":[{"id":"Z9","qty":3,"price":40}]}', task: 'Extract the line items of this invoice: id, quantity and unit price for each line.' },
  // A near-miss of invoice-ids: the same document, another failure.
  { label: 'invoice-currency', stage: 'extract', what: 'failed check: every amount carries its ISO currency code', evidence: 'output: {"amount":120}', task: 'Extract the amounts of this invoice, each with its currency.' },
  { label: 'receipt-vat', stage: 'extract', what: 'failed check: totals include tax: the receipt total must include VAT', evidence: 'output: {"total":12.5,"vat":0}', task: 'Extract the totals of this shop receipt, with the VAT amount and the grand total.' },
  { label: 'po-date', stage: 'extract', what: '/delivery_date must match format "date"', evidence: 'output: {"supplier":"Acme","delivery_date":"next Tuesday"}', task: 'Extract the supplier and the delivery date from this purchase order.' },
  { label: 'manifest-containers', stage: 'extract', what: 'failed check: container numbers have 11 characters (4 letters, 7 digits)', evidence: 'output: {"containers":["MSCU12345"]}', task: 'Extract container numbers and gross weights from this shipping manifest.' },
  { label: 'contract-sections', stage: 'extract', what: 'failed check: every clause cites its section number', evidence: 'output: {"clauses":[{"text":"Either party may terminate"}]}', task: 'Extract the termination clauses of this supply contract, each with its section.' },
  { label: 'resume-skills', stage: 'extract', what: 'failed check: skills are taken from the resume, not invented', evidence: 'output: {"skills":["Kubernetes","Rust"]}', task: 'Extract the candidate\'s skills and years of experience from this resume.' },
  { label: 'summary-empty', stage: 'summarise', what: 'failed check: has a summary: the summary was empty', evidence: 'output: {}', task: 'Summarise the invoice for the accounts team in one sentence with its total.' },
  { label: 'summary-length', stage: 'summarise', what: 'failed check: the summary is at most 40 words', evidence: 'output: {"summary":"This customer complaint concerns ... (212 words)"}', task: 'Write a short summary of this customer complaint for the support lead.' },
  // A near-miss of summary-length: the same complaint, another failure.
  { label: 'summary-tone', stage: 'summarise', what: 'failed check: the summary keeps a neutral tone (no blame, no adjectives about the customer)', evidence: 'output: {"summary":"An unreasonable customer rants"}', task: 'Summarise this angry customer complaint neutrally for the support lead.' },
  { label: 'summary-french', stage: 'summarise', what: 'failed check: the summary is written in French', evidence: 'output: {"summary":"The quarterly report shows"}', task: 'Résumez ce rapport trimestriel en français pour la direction.' },
  { label: 'summary-meeting-owners', stage: 'summarise', what: 'failed check: every action item names an owner', evidence: 'output: {"actions":[{"item":"send the deck"}]}', task: 'Summarise these meeting notes as action items, each with its owner and due date.' },
  { label: 'ticket-labels', stage: 'classify', what: '/label must be equal to one of the allowed values: billing, technical, account', evidence: 'output: {"label":"payments"}', task: 'Classify this support ticket as billing, technical or account.' },
  { label: 'review-sentiment', stage: 'classify', what: 'failed check: sentiment score is between -1 and 1', evidence: 'output: {"sentiment":4}', task: 'Score the sentiment of this product review from -1 (negative) to 1 (positive).' },
  { label: 'email-spam', stage: 'classify', what: 'failed check: spam verdicts give a reason', evidence: 'output: {"spam":true}', task: 'Decide whether this inbound email is spam and say why.' },
  { label: 'lang-detect', stage: 'classify', what: '/language must match pattern ^[a-z]{2}$ (ISO 639-1 code)', evidence: 'output: {"language":"English"}', task: 'Detect the language of this text and answer with its ISO 639-1 code.' },
];

export interface LabelledTask {
  stage: string;
  text: string;
  /** The label of the precedent that applies, or null when none does. */
  expected: string | null;
}

export const LABELLED_TASKS: LabelledTask[] = [
  { stage: 'extract', expected: 'invoice-ids', text: 'Extract every line item from invoice INV-2291 (id, quantity, unit price): A7 3x40, B2 1x15, C9 2x7.' },
  { stage: 'extract', expected: 'invoice-ids', text: 'From the attached supplier invoice, list each line with its id, the quantity and the price per unit.' },
  { stage: 'extract', expected: 'invoice-currency', text: 'Extract the invoice total and its currency (EUR, USD, GBP) from invoice INV-7.' },
  { stage: 'extract', expected: 'receipt-vat', text: 'Read this supermarket receipt and extract the grand total and the VAT paid.' },
  { stage: 'extract', expected: 'receipt-vat', text: 'Receipt from Café Nord: extract total amount and VAT (tax) for the expense report.' },
  { stage: 'extract', expected: 'po-date', text: 'Purchase order PO-88: extract who the supplier is and the delivery date they committed to.' },
  { stage: 'extract', expected: 'manifest-containers', text: 'This manifest lists containers for vessel MSC Aurora: extract each container number with its gross weight.' },
  { stage: 'extract', expected: 'contract-sections', text: 'Extract the clauses about termination from the attached master services contract, with section numbers.' },
  { stage: 'extract', expected: 'resume-skills', text: 'Here is a resume: extract the skills the candidate lists and their years of experience.' },
  { stage: 'extract', expected: null, text: 'Extract the ingredients and cooking time from this lasagne recipe blog post.' },
  { stage: 'extract', expected: null, text: 'Extract the names of the players and the final score from this football match report.' },
  { stage: 'summarise', expected: 'summary-empty', text: 'Summarise invoice INV-2291 for accounts payable: one sentence, mention the total.' },
  { stage: 'summarise', expected: 'summary-length', text: 'Summarise the complaint below for the support lead; keep it short.' },
  { stage: 'summarise', expected: 'summary-tone', text: 'Summarise the customer\'s complaint in a neutral tone, without blaming anyone.' },
  { stage: 'summarise', expected: 'summary-french', text: 'Faites un résumé en français de ce rapport pour la direction financière.' },
  { stage: 'summarise', expected: 'summary-meeting-owners', text: 'Turn the notes of today\'s meeting into action items with owners and due dates.' },
  { stage: 'summarise', expected: null, text: 'Summarise the plot of this novel chapter in the voice of a pirate.' },
  { stage: 'classify', expected: 'ticket-labels', text: 'Support ticket #4411: "I was charged twice". Classify it as billing, technical or account.' },
  { stage: 'classify', expected: 'review-sentiment', text: 'Give a sentiment score between -1 and 1 for this review of the X200 headphones.' },
  { stage: 'classify', expected: 'email-spam', text: 'Is this email spam? "You won a prize, click here". Give the reason for your verdict.' },
  { stage: 'classify', expected: 'lang-detect', text: 'Which language is this paragraph in? Answer with the two-letter ISO 639-1 code.' },
  { stage: 'classify', expected: null, text: 'Classify these photos of birds by species.' },
];

export function observationOf(precedent: LabelledPrecedent, at: number): PrecedentObservation {
  return {
    kind: 'contract_violation',
    where: { pipeline: null, stage: precedent.stage, model: 'gpt-4o-mini', tool: null, contract: null },
    what: precedent.what, evidence: precedent.evidence, taskText: precedent.task, features: {},
    fix: precedent.fix ?? null, fixSource: null, project: null, runId: null, callId: null, at, createdBy: 'test',
  };
}

/** Failures at stages no task asks about: they must never be injected into the tasks above. */
export function distractor(index: number, at: number): PrecedentObservation {
  const topics = ['invoice', 'receipt', 'manifest', 'contract', 'resume', 'ticket', 'review', 'email'];
  const topic = topics[index % topics.length]!;
  return {
    kind: 'contract_violation',
    where: { pipeline: null, stage: `other-stage-${index % 17}`, model: 'gpt-4o-mini', tool: null, contract: null },
    what: `failed check ${index}: the ${topic} field ${index % 5} is wrong`, evidence: `output: {"${topic}":${index}}`,
    taskText: `Process this ${topic} number ${index} and extract its fields`, features: {},
    fix: null, fixSource: null, project: null, runId: null, callId: null, at, createdBy: 'test',
  };
}
