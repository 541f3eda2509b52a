# ActionDispatch echo upstream (Debian's ruby-actionpack, Rails 6.1) on WEBrick: answers with
# what Rails reads: `params` (path, query and request parameters, the last including the
# members of a JSON body through ActionDispatch's JSON parameter parser), cookies, headers.
require 'json'
require 'action_dispatch'
require 'webrick'

app = lambda do |env|
  req = ActionDispatch::Request.new(env)
  out = { 'parser' => 'rails', 'path' => req.path_info }
  begin
    out['query'] = req.query_parameters
    out['form'] = req.request_parameters
    out['params'] = req.params
  rescue StandardError => e # Rails refuses what it cannot parse (400)
    out['error'] = e.class.name
  end
  out['cookies'] = (req.cookies rescue {})
  out['headers'] = env.select { |k, _| k.start_with?('HTTP_') }
                      .map { |k, v| [k[5..].downcase.tr('_', '-'), v] }.to_h
  text = (JSON.generate(out) rescue JSON.generate('parser' => 'rails', 'error' => 'encoding'))
  [200, { 'content-type' => 'application/json' }, [text]]
end

Rack::Handler::WEBrick.run(app, Host: '127.0.0.1', Port: Integer(ARGV[0]),
                           Logger: WEBrick::Log.new(File::NULL), AccessLog: [])
