# Rack echo upstream: answers with what Rack::Request parsed (GET, POST, params, cookies, env
# HTTP_*).
require 'json'
require 'rack'

app = lambda do |env|
  req = Rack::Request.new(env)
  out = { 'parser' => 'rack', 'path' => req.path_info }
  begin
    out['query'] = req.GET
    out['form'] = req.POST
    out['params'] = req.params # GET and POST merged
    out['cookies'] = req.cookies
  rescue StandardError => e # Rack refuses what it cannot parse
    out['error'] = e.class.name
    out['query'] ||= {}
    out['form'] ||= {}
  end
  if req.media_type == 'application/json'
    body = req.body.read
    out['json'] = (JSON.parse(body) rescue nil)
  end
  out['cookies'] = (req.cookies rescue {})
  out['headers'] = env.select { |k, _| k.start_with?('HTTP_') }
                      .map { |k, v| [k[5..].downcase.tr('_', '-'), v] }.to_h
  text = JSON.generate(out.transform_values { |v| v }) rescue JSON.generate('parser' => 'rack', 'error' => 'encoding')
  [200, { 'content-type' => 'application/json' }, [text]]
end

run app
