import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

/** A run the demo drives: which agent, through which client, with its run token. */
export interface DemoRun {
  name: string;
  token: string;
}

export interface WorkloadOptions {
  gatewayUrl: string;
  /** Sim-only headers shape the simulated answers; they are not sent to real providers. */
  simulated: boolean;
  models: { openai: string; anthropic: string };
}

const lookupOrderTool = {
  type: 'function' as const,
  function: {
    name: 'lookup_order',
    description: 'Find an order by id',
    parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  },
};

/**
 * A small research agent on the OpenAI API: plan (Chat), call a tool (Chat, tool call),
 * then stream its answer (Chat) and a summary (Responses, streamed).
 */
export async function researchAgent(run: DemoRun, options: WorkloadOptions): Promise<void> {
  const client = new OpenAI({ baseURL: `${options.gatewayUrl}/v1`, apiKey: run.token, maxRetries: 0 });
  const step = (name: string, outputTokens: number) => ({
    headers: { 'x-intime-step': name, 'x-intime-agent': 'research', ...(options.simulated ? { 'x-sim-output-tokens': String(outputTokens) } : {}) },
  });
  const model = options.models.openai;
  const question = 'Why did order 4412 ship late, and what should we tell the customer?';

  const plan = await client.chat.completions.create({
    model, max_completion_tokens: 300,
    messages: [{ role: 'system', content: 'You plan investigations in three short steps.' }, { role: 'user', content: question }],
  }, step('plan', 120));

  const toolTurn = await client.chat.completions.create({
    model, max_completion_tokens: 200, tools: [lookupOrderTool], tool_choice: { type: 'function', function: { name: 'lookup_order' } },
    messages: [{ role: 'user', content: question }, { role: 'assistant', content: plan.choices[0]?.message.content ?? '' }],
  }, step('lookup', 0));
  const toolCall = toolTurn.choices[0]?.message.tool_calls?.[0];

  const answer = await client.chat.completions.create({
    model, max_completion_tokens: 400, stream: true, stream_options: { include_usage: true },
    messages: [
      { role: 'user', content: question },
      { role: 'assistant', content: null, tool_calls: toolCall ? [toolCall] : [] },
      ...(toolCall ? [{ role: 'tool' as const, tool_call_id: toolCall.id, content: '{"status":"delayed","reason":"carrier backlog","eta":"2 days"}' }] : []),
    ],
  }, step('answer', 260));
  for await (const chunk of answer) void chunk;

  const summary = await client.responses.create({
    model, max_output_tokens: 200, stream: true,
    input: [{ role: 'user', content: `Summarise for the customer: ${question}` }],
  }, step('summary', 90));
  for await (const event of summary) void event;
}

/** A support agent on the Anthropic API: a tool_use turn, then a streamed reply. */
export async function supportAgent(run: DemoRun, options: WorkloadOptions): Promise<void> {
  const client = new Anthropic({ baseURL: options.gatewayUrl, apiKey: run.token, maxRetries: 0 });
  const step = (name: string, outputTokens: number) => ({
    headers: { 'x-intime-step': name, 'x-intime-agent': 'support', ...(options.simulated ? { 'x-sim-output-tokens': String(outputTokens) } : {}) },
  });
  const model = options.models.anthropic;
  const ask = 'My order 4412 is late. Can you check it and tell me when it arrives?';

  const toolTurn = await client.messages.create({
    model, max_tokens: 300,
    tools: [{ name: 'lookup_order', description: 'Find an order by id', input_schema: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] } }],
    tool_choice: { type: 'tool', name: 'lookup_order' },
    messages: [{ role: 'user', content: ask }],
  }, step('lookup', 0));
  const toolUse = toolTurn.content.find((block) => block.type === 'tool_use');

  const reply = client.messages.stream({
    model, max_tokens: 500,
    messages: [
      { role: 'user', content: ask },
      { role: 'assistant', content: toolTurn.content },
      { role: 'user', content: toolUse ? [{ type: 'tool_result', tool_use_id: toolUse.id, content: '{"status":"delayed","eta":"2 days"}' }] : 'continue' },
    ],
  }, step('reply', 180));
  await reply.finalMessage();
}
